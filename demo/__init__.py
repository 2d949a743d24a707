"""Demo and volume data: the model district (seed_demo) and bulk cases (seed_bulk); nothing imports it."""
