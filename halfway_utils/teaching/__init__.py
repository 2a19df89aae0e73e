"""Material for teaching: the halfway idea in the plane (:mod:`.plane`) and the notebooks'
explorers (:mod:`.explorers`), each a figure function a lecture notebook can call.

This is the top layer: it imports the experiments, never the other way round.
"""
