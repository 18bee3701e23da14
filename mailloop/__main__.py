from mailloop.cli import main

main()
