from pausebutton.cli.main import run

if __name__ == "__main__":  # spawned worker processes (the simulator's Dask workers) import it
    run()
