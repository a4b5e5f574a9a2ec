from textseq.cli import main

raise SystemExit(main())
