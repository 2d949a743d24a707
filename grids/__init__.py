"""Grids: the area tree, departments, party organisations and the organisation import/export."""
