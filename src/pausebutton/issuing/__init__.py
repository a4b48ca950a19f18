"""Issuing without a server: an authority's key directory and the offline issuing tools.

``keydir``: the single-operator key directory (``pausebutton authority init``);
``offline``: licences, pause/resume orders and time tokens signed from it, each logged in a
local proof-carrying log (``license issue``, ``time issue``, ``pause propose|sign|assemble``,
``vendor``, the conformance kit). Neither imports :mod:`pausebutton.authority`, so a vendor's
kit (:mod:`pausebutton.chip`) can use them without pulling in the server.
"""
