from kura.cli import main

main()
