"""12.x's graph algorithms over the storage seam's edges, written once for every engine."""
