"""Effects of rights: withdrawing consent per purpose and restricting processing, in every system.

An unsubscribe (marketing opt-out) and an objection to a purpose set the subject's consent fields
for that purpose to "no"; a restriction sets the restriction marker; an officer lifts it. The
registry says which fields those are (``consent``, ``restriction``).
"""
