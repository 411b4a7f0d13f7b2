"""Call records over REST, for supervisors and the systems they feed (a legal-aid case system): masked numbers."""
