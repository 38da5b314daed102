from kasparro.cli import main

main()
