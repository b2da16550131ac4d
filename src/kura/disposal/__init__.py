"""Retention, legal holds and disposal by crypto-shredding (regulation §13; R52, R78–R80)."""
