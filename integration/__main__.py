from integration.tools.cli import main

raise SystemExit(main())
