"""The thesis' experiments 2–4 as resumable grids, and the reproduction report.

- :mod:`.grid`: experiment files → cells × seeds → run folders (``DONE`` markers, resumable),
  local or on Ray (:mod:`.ray_backend`); :mod:`.cell` trains and evaluates one run.
- :mod:`.exp2_finetune`, :mod:`.exp3_vendor`, :mod:`.exp4_size`: each experiment's cells and
  table; :mod:`.sampling` (per-class, vendor-fixed training sets); :mod:`.stats` (mean and 95 %
  CI over seeds); :mod:`.report` (``docs/reproduction.md``); :mod:`.export_best`.

Command line: ``echostream experiment exp2|exp3|exp4 --data DIR --scale tiny|smoke|full`` and
``echostream report``.
"""
