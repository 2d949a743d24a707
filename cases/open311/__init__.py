"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) at /open311/v2/: the public categories as
services, cases as service requests (read by anyone, no personal data), and new requests from registered
external systems."""
