"""The residents' side: public pages (forms, views, urls), abuse limits, the point → grid lookup and rating links."""
