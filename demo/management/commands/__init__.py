"""seed_demo, seed_bulk and demo_otp."""
