"""Support: decides entitlements, records grants, disbursements and referrals."""
