"""`hotline up`: one process that owns every child of the service and the health endpoint."""
