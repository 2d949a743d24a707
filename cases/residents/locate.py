"""Finding a resident's grid from what they know: the platform's one locator (grids.locator, grids.addresses)."""

from grids.addresses import grid_from_address
from grids.locator import grid_at_point, locate

__all__ = ["grid_at_point", "grid_from_address", "locate"]
