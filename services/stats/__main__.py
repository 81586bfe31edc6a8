from services.stats.app import main

main()
