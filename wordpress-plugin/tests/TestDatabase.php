<?php
/**
 * A private MariaDB for the tests that need WordPress's database (the
 * database epoch): its own data directory and socket, no TCP, started on
 * first use and stopped at the end of the run.  TestWpdb is the part of
 * WordPress's $wpdb the drop-in and the plugin use (get_var, query,
 * prepare, suppress_errors, last_error, base_prefix), over mysqli on that
 * database, with WordPress's options table.
 */
class TestDatabase {

	private static $instance;
	public $dir;
	public $socket;
	private $proc;

	public static function shared() {
		if ( ! self::$instance ) {
			self::$instance = new self();
			self::$instance->start();
		}
		return self::$instance;
	}

	private function start() {
		$this->dir    = sys_get_temp_dir() . '/larder-phpunit-db-' . getmypid();
		$this->socket = $this->dir . '/mysql.sock';
		@mkdir( $this->dir );
		$out = array();
		exec( 'mariadb-install-db --no-defaults --datadir=' . escapeshellarg( $this->dir . '/data' ) . ' --auth-root-authentication-method=normal --skip-test-db --user=' . escapeshellarg( get_current_user() === 'root' || 0 === posix_getuid() ? 'root' : get_current_user() ) . ' 2>&1', $out, $rc );
		if ( 0 !== $rc ) {
			throw new RuntimeException( 'mariadb-install-db failed: ' . implode( "\n", $out ) );
		}
		$cmd        = array( 'mariadbd', '--no-defaults', '--datadir=' . $this->dir . '/data', '--socket=' . $this->socket, '--skip-networking', '--pid-file=' . $this->dir . '/db.pid', '--log-error=' . $this->dir . '/db.log', '--innodb-buffer-pool-size=16M', '--skip-log-bin' );
		if ( 0 === posix_getuid() ) {
			$cmd[] = '--user=root';
		}
		$this->proc = proc_open( $cmd, array( 0 => array( 'file', '/dev/null', 'r' ), 1 => array( 'file', '/dev/null', 'w' ), 2 => array( 'file', '/dev/null', 'w' ) ), $pipes );
		register_shutdown_function( array( $this, 'stop' ) ); // Whatever happens next, the database goes.
		$deadline   = microtime( true ) + 60;
		mysqli_report( MYSQLI_REPORT_OFF ); // Errors as return values, as WordPress uses mysqli.
		while ( microtime( true ) < $deadline ) {
			$db = @mysqli_connect( 'localhost', 'root', '', '', 0, $this->socket );
			if ( $db ) {
				$db->query( 'CREATE DATABASE IF NOT EXISTS wordpress' );
				$db->close();
				return;
			}
			usleep( 100000 );
		}
		$log = (string) @file_get_contents( $this->dir . '/db.log' );
		$this->stop();
		throw new RuntimeException( 'MariaDB did not start: ' . $log );
	}

	public function stop() {
		if ( $this->proc ) {
			proc_terminate( $this->proc, 15 );
			$deadline = microtime( true ) + 10;
			while ( proc_get_status( $this->proc )['running'] && microtime( true ) < $deadline ) {
				usleep( 50000 );
			}
			if ( proc_get_status( $this->proc )['running'] ) {
				proc_terminate( $this->proc, 9 );
			}
			proc_close( $this->proc );
			$this->proc = null;
			exec( 'rm -rf ' . escapeshellarg( $this->dir ) );
		}
	}

	/** A fresh options table under $prefix. */
	public function wpdb( $prefix = 'wp_' ) {
		$db = new TestWpdb( $this->socket, $prefix );
		$db->query( "DROP TABLE IF EXISTS {$prefix}options" );
		$db->query( "CREATE TABLE {$prefix}options (option_id bigint unsigned NOT NULL AUTO_INCREMENT, option_name varchar(191) NOT NULL DEFAULT '', option_value longtext NOT NULL, autoload varchar(20) NOT NULL DEFAULT 'yes', PRIMARY KEY (option_id), UNIQUE KEY option_name (option_name))" );
		return $db;
	}
}

/** The few $wpdb methods in use, with WordPress's behaviour (query() returns affected rows or false). */
class TestWpdb {

	public $base_prefix;
	public $prefix;
	public $last_error = '';
	public $num_queries = 0;
	private $suppress = false;
	private $mysqli;

	public function __construct( $socket, $prefix ) {
		mysqli_report( MYSQLI_REPORT_OFF );
		$this->mysqli      = mysqli_connect( 'localhost', 'root', '', 'wordpress', 0, $socket );
		$this->base_prefix = $prefix;
		$this->prefix      = $prefix;
	}

	public function suppress_errors( $suppress = true ) {
		$old            = $this->suppress;
		$this->suppress = (bool) $suppress;
		return $old;
	}

	public function prepare( $query, ...$args ) {
		$i = 0;
		return preg_replace_callback(
			'/%[sd]/',
			function ( $m ) use ( $args, &$i ) {
				$v = $args[ $i++ ];
				return '%d' === $m[0] ? (string) (int) $v : "'" . $this->mysqli->real_escape_string( (string) $v ) . "'";
			},
			$query
		);
	}

	public function query( $sql ) {
		$this->num_queries++;
		$result           = $this->mysqli->query( $sql );
		$this->last_error = $this->mysqli->error;
		if ( false === $result ) {
			if ( ! $this->suppress ) {
				trigger_error( 'TestWpdb: ' . $this->last_error, E_USER_WARNING );
			}
			return false;
		}
		return true === $result ? $this->mysqli->affected_rows : $result;
	}

	public function get_var( $sql ) {
		$result = $this->query( $sql );
		if ( ! $result instanceof mysqli_result ) {
			return null;
		}
		$row = $result->fetch_row();
		return $row ? $row[0] : null;
	}

	public function option( $name ) {
		return $this->get_var( $this->prepare( "SELECT option_value FROM {$this->base_prefix}options WHERE option_name = %s", $name ) );
	}
}
