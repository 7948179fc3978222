"""Published privacy policies: versions, the rights they grant, deadlines and retention rules."""
