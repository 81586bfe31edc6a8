from services.notify.app import main

main()
