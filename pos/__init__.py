"""The sample point-of-sale business system whose data subject requests act on."""
