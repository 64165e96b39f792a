"""The per-board orchestration above :mod:`rpiboot.protocol`: one worker per board
(:mod:`~rpiboot.engine.session`) and the serving loop that starts them
(:mod:`~rpiboot.engine.server`), over injectable seams (:mod:`~rpiboot.engine.seams`)."""
