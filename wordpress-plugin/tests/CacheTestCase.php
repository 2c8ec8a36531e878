<?php
/**
 * Shared set-up of the drop-in's tests: a running server, emptied before
 * each test, and a fresh WP_Object_Cache standing for a fresh request.
 */

use PHPUnit\Framework\TestCase;

abstract class CacheTestCase extends TestCase {

	/** @var CacheServer */
	protected $server;

	/** @var WP_Object_Cache */
	protected $cache;

	/** @var string|null Where error_log() writes during the test. */
	protected $log_file;

	protected function setUp(): void {
		$this->server = CacheServer::shared();
		$this->assertSame( "OK\r\n", $this->server->raw( "flush_all\r\n" ), 'flush_all before the test' );
		$GLOBALS['fake_wp']           = array(
			'suspend'   => false,
			'multisite' => false,
			'blog_id'   => 1,
			'wrong'     => array(),
			'ext_cache' => true,
		);
		$GLOBALS['memcached_servers'] = array( $this->server->address() );
		$this->log_file               = tempnam( sys_get_temp_dir(), 'wplog' );
		array_map( 'unlink', glob( LARDER_STATE_DIR . '/*' ) ?: array() ); // Forget earlier log lines.
		ini_set( 'error_log', $this->log_file );
		$this->cache = $this->new_request();
	}

	protected function tearDown(): void {
		ini_restore( 'error_log' );
		if ( $this->log_file ) {
			@unlink( $this->log_file );
		}
		unset( $GLOBALS['memcached_servers'] );
	}

	/**
	 * A new WP_Object_Cache, as a new request would build: empty runtime
	 * cache, the groups WordPress declares in wp_start_object_cache().
	 */
	protected function new_request() {
		wp_cache_init();
		wp_cache_add_global_groups( array( 'users', 'userlogins', 'usermeta', 'site-options', 'site-transient' ) );
		wp_cache_add_non_persistent_groups( array( 'counts', 'plugins' ) );
		$this->cache = $GLOBALS['wp_object_cache'];
		return $this->cache;
	}

	/** Lines written with error_log() during this test. */
	protected function logged() {
		clearstatcache();
		$text = (string) file_get_contents( $this->log_file );
		return array_values( array_filter( explode( "\n", $text ), 'strlen' ) );
	}

	/**
	 * Runs wp_cache_* calls in a separate PHP process (see child.php) and
	 * returns their results.  $php_args go before the script, e.g. '-n'.
	 */
	protected function child( array $ops, $servers = null, array $extra = array(), array $php_args = array() ) {
		$job = array_merge(
			array(
				'servers'   => $servers ?? $this->server->address(),
				'ops'       => $ops,
				'state_dir' => LARDER_STATE_DIR,
			),
			$extra
		);
		$cmd = array_merge( array( PHP_BINARY ), $php_args, array( '-d', 'error_log=' . $this->log_file, '-d', 'display_errors=stderr', __DIR__ . '/child.php', json_encode( $job ) ) );
		$proc = proc_open( $cmd, array( 1 => array( 'pipe', 'w' ), 2 => array( 'pipe', 'w' ) ), $pipes );
		$out  = stream_get_contents( $pipes[1] );
		$err  = stream_get_contents( $pipes[2] );
		fclose( $pipes[1] );
		fclose( $pipes[2] );
		$rc = proc_close( $proc );
		$this->assertSame( 0, $rc, "child process failed: $err $out" );
		$this->assertSame( '', $err, 'child process wrote to stderr' );
		$result = @unserialize( $out );
		$this->assertIsArray( $result, "child output: $out" );
		return $result;
	}
}
