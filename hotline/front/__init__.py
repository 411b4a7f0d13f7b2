"""SIP front: Kamailio in front of the cells (dispatcher, registrar, anti-flood) and its process wrapper."""
