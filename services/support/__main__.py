from services.support.app import main

main()
