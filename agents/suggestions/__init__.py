"""How often the post-call analysis' suggestions were right, as agents decided them."""
