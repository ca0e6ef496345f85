from skclip.cli import main

raise SystemExit(main())
