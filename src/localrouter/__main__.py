from localrouter.cli.main import main

main()
