from crossjit.cli import main

main()
