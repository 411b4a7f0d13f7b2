"""Supervisors' records of past work: the work-order search, a work order's page, its recordings."""
