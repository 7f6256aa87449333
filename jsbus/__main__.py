from jsbus.cli import main

main()
