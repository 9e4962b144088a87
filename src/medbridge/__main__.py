from medbridge.cli import main

main()
