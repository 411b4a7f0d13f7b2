"""Work orders (话务工单) as agents see them: the REST API over `db.tickets` and `db.suggestions`."""
