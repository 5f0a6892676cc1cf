from integration.cli import main

raise SystemExit(main())
