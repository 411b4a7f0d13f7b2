"""Referrals (转介) over REST: the work orders a receiving agency (legal aid, mediation...) pulls, masked."""
