"""Delivery channels other than Django's email backends: the SMS gateways."""
