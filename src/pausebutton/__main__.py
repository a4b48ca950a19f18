from pausebutton.cli.main import run

run()
