<?php
/**
 * A cache server started for a test: the binary named by $SERVER_BIN
 * (default $LARDER_BIN, default <repo>/build/larder), on a free port of
 * 127.0.0.1, with memcached's flags.  stop() (or the end of the PHP
 * process) kills it.  raw() talks the text protocol directly, so tests can
 * look at the server without going through the drop-in.
 */
class CacheServer {

	public $port;
	public $bin;
	private static $shared;
	private $proc;
	private $log;

	public static function binary() {
		$bin = getenv( 'SERVER_BIN' ) ?: getenv( 'LARDER_BIN' );
		return $bin ?: dirname( __DIR__, 2 ) . '/build/larder';
	}

	public static function free_port() {
		$s = stream_socket_server( 'tcp://127.0.0.1:0', $errno, $errstr );
		if ( ! $s ) {
			throw new RuntimeException( "no free port: $errstr" );
		}
		$name = stream_socket_get_name( $s, false );
		fclose( $s );
		return (int) substr( strrchr( $name, ':' ), 1 );
	}

	/** One server for the whole test run, started on first use. */
	public static function shared() {
		if ( ! self::$shared ) {
			self::$shared = self::start();
		}
		return self::$shared;
	}

	public static function start( $bin = null ) {
		$server      = new self();
		$server->bin = $bin ?: self::binary();
		if ( ! is_executable( $server->bin ) ) {
			throw new RuntimeException( "server binary not found or not executable: {$server->bin}" );
		}
		for ( $try = 0; $try < 5; $try++ ) {
			if ( $server->launch( self::free_port() ) ) {
				return $server;
			}
		}
		throw new RuntimeException( "could not start {$server->bin}: " . @file_get_contents( $server->log ) );
	}

	private function launch( $port ) {
		$this->port = $port;
		$this->log  = tempnam( sys_get_temp_dir(), 'cachesrv' );
		$cmd        = array( $this->bin, '-p', (string) $port, '-U', '0', '-l', '127.0.0.1', '-m', '64', '-t', '2', '-c', '1024' );
		if ( function_exists( 'posix_getuid' ) && 0 === posix_getuid() ) { // Both refuse root without -u.
			$cmd[] = '-u';
			$cmd[] = 'root';
		}
		$this->proc = proc_open( $cmd, array( 0 => array( 'file', '/dev/null', 'r' ), 1 => array( 'file', $this->log, 'a' ), 2 => array( 'file', $this->log, 'a' ) ), $pipes );
		$deadline   = microtime( true ) + 60; // only a hang takes this long
		while ( microtime( true ) < $deadline ) {
			$status = proc_get_status( $this->proc );
			if ( ! $status['running'] ) {
				return false;
			}
			$s = @stream_socket_client( "tcp://127.0.0.1:$port", $errno, $errstr, 0.2 );
			if ( $s ) {
				fclose( $s );
				return true;
			}
			usleep( 20000 );
		}
		$this->stop();
		return false;
	}

	/** Stops the server and starts a new, empty one on the same port. */
	public function restart() {
		$this->stop();
		$deadline = microtime( true ) + 10;
		while ( ! $this->launch( $this->port ) ) {
			if ( microtime( true ) > $deadline ) {
				throw new RuntimeException( "could not restart {$this->bin} on port {$this->port}" );
			}
			usleep( 100000 );
		}
	}

	public function address() {
		return '127.0.0.1:' . $this->port;
	}

	/** Kills the server and waits for it; safe to call twice. */
	public function stop() {
		if ( ! $this->proc ) {
			return;
		}
		proc_terminate( $this->proc, 15 );
		$deadline = microtime( true ) + 60;
		while ( proc_get_status( $this->proc )['running'] && microtime( true ) < $deadline ) {
			usleep( 10000 );
		}
		if ( proc_get_status( $this->proc )['running'] ) {
			proc_terminate( $this->proc, 9 );
		}
		proc_close( $this->proc );
		$this->proc = null;
		@unlink( $this->log );
	}

	public function __destruct() {
		$this->stop();
	}

	/**
	 * Sends raw protocol text and reads until one of the terminators ends
	 * the reply ("END\r\n", "STORED\r\n", ...), or 10 s pass (a hang).
	 */
	public function raw( $command, $until = "/(END|STORED|NOT_STORED|DELETED|NOT_FOUND|OK|ERROR[^\r]*)\r\n$/" ) {
		$s = stream_socket_client( 'tcp://' . $this->address(), $errno, $errstr, 1 );
		if ( ! $s ) {
			throw new RuntimeException( "connect: $errstr" );
		}
		stream_set_timeout( $s, 10 ); // a terminator ends the read; this only a hang
		fwrite( $s, $command );
		$reply = '';
		while ( ! feof( $s ) ) {
			$chunk = fread( $s, 65536 );
			if ( false === $chunk || '' === $chunk ) {
				$meta = stream_get_meta_data( $s );
				if ( $meta['timed_out'] ) {
					break;
				}
				continue;
			}
			$reply .= $chunk;
			if ( preg_match( $until, $reply ) ) {
				break;
			}
		}
		fclose( $s );
		return $reply;
	}

	/** The server's "stats" as [ name => value ]. */
	public function stats() {
		$stats = array();
		foreach ( explode( "\r\n", $this->raw( "stats\r\n" ) ) as $line ) {
			if ( preg_match( '/^STAT (\S+) (.*)$/', $line, $m ) ) {
				$stats[ $m[1] ] = $m[2];
			}
		}
		return $stats;
	}
}
