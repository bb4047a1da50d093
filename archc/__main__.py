from archc.cli import main

raise SystemExit(main())
