"""The production cell: a SIP engine cell (hotline.sip) with call records in PostgreSQL and the IVR app."""
