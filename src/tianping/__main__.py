from tianping.warm import main

main()
