"""The SIP engine cell: the only package that imports pjsua2 (engine.py), the async call API (call.py),
stereo recordings (recording.py), the cell process (cell.py) and a demo handler (demo.py)."""
