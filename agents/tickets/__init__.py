"""Work orders (话务工单) as agents see them: read one, decide on the values the post-call analysis suggested."""
