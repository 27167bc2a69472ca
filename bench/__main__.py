from bench.intake import main

main()
