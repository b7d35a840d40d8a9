from tianping.cli import main

main()
