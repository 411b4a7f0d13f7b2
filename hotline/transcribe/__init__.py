"""Speech to text with Vosk: live streams per call leg over a websocket, and a post-call backlog."""
