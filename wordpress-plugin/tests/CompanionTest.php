<?php
/**
 * The companion plugin's logic (Larder_Manager, Larder_CLI: what the
 * settings page, Site Health and `wp larder` call), on a temporary
 * wp-content and the test's real server.
 */
class CompanionTest extends CacheTestCase {

	private $content;

	/** @var Larder_CLI */
	private $cli;

	/** @var Larder_Manager */
	private $manager;

	protected function setUp(): void {
		parent::setUp();
		$this->content = sys_get_temp_dir() . '/larder-wp-content-' . getmypid();
		exec( 'rm -rf ' . escapeshellarg( $this->content ) );
		mkdir( $this->content );
		$this->manager = new Larder_Manager( $this->content );
		$this->cli     = new Larder_CLI( $this->manager );
	}

	protected function tearDown(): void {
		exec( 'rm -rf ' . escapeshellarg( $this->content ) );
		parent::tearDown();
	}

	public function test_enable_installs_the_bundled_drop_ins_and_disable_removes_them() {
		$r = $this->cli->enable( true );
		$this->assertTrue( $r['ok'], implode( "\n", $r['lines'] ) );
		$this->assertFileEquals( dirname( __DIR__ ) . '/object-cache.php', $this->content . '/object-cache.php' );
		$this->assertFileEquals( dirname( __DIR__ ) . '/advanced-cache.php', $this->content . '/advanced-cache.php' );
		$this->assertStringContainsString( 'WP_CACHE', $r['lines'][1], 'says what else the page cache needs' );
		$this->assertSame( array( 'advanced-cache.php', 'object-cache.php' ), array_values( array_diff( scandir( $this->content ), array( '.', '..' ) ) ), 'no temporary file left' );

		$state = $this->manager->dropin( 'object' );
		$this->assertTrue( $state['ours'] );
		$this->assertSame( LARDER_OBJECT_CACHE, $state['version'] );
		$this->assertFalse( $state['outdated'] );

		$r = $this->cli->disable( true );
		$this->assertTrue( $r['ok'], implode( "\n", $r['lines'] ) );
		$this->assertFileDoesNotExist( $this->content . '/object-cache.php' );
		$this->assertFileDoesNotExist( $this->content . '/advanced-cache.php' );
	}

	public function test_another_plugins_drop_in_is_left_alone_unless_forced() {
		file_put_contents( $this->content . '/object-cache.php', "<?php\n// Someone else's cache.\n" );
		$r = $this->cli->enable();
		$this->assertFalse( $r['ok'] );
		$this->assertStringContainsString( 'another plugin', $r['lines'][0] );
		$this->assertStringContainsString( "Someone else's", file_get_contents( $this->content . '/object-cache.php' ) );
		$this->assertFalse( $this->cli->disable()['ok'] );
		$this->assertFileExists( $this->content . '/object-cache.php' );
		$this->assertTrue( $this->cli->enable( false, true )['ok'] );
		$this->assertTrue( $this->manager->dropin( 'object' )['ours'] );
	}

	public function test_an_outdated_drop_in_is_reported_and_updated() {
		$old = str_replace( "define( 'LARDER_OBJECT_CACHE', '" . LARDER_OBJECT_CACHE . "' )", "define( 'LARDER_OBJECT_CACHE', '1.0.0' )", file_get_contents( dirname( __DIR__ ) . '/object-cache.php' ) );
		file_put_contents( $this->content . '/object-cache.php', $old );
		$this->assertTrue( $this->manager->dropin( 'object' )['outdated'] );
		$this->assertStringContainsString( 'outdated', $this->cli->status()['lines'][0] );
		$this->assertSame( 'recommended', $this->manager->health()['dropin']['status'] );
		$this->assertTrue( $this->cli->enable()['ok'] );
		$this->assertFalse( $this->manager->dropin( 'object' )['outdated'] );
		$this->assertSame( 'good', $this->manager->health()['dropin']['status'] );
	}

	public function test_status_and_stats_show_the_server() {
		wp_cache_set( 'k', 'v', 'g' );
		$this->new_request();
		wp_cache_get( 'k', 'g' );
		wp_cache_get( 'missing', 'g' );
		$r = $this->cli->status();
		$this->assertTrue( $r['ok'] );
		$this->assertContains( 'Cache type:   Larder', $r['lines'] );
		$this->assertCount( 1, $r['rows'] );
		$row = $r['rows'][0];
		$this->assertSame( $this->server->address(), $row['server'] );
		$this->assertSame( 'connected', $row['status'] );
		$this->assertSame( $this->server->stats()['version'], $row['version'] );
		$this->assertMatchesRegularExpression( '/^\d+\.\d%$/', $row['hit ratio'] );
		$this->assertMatchesRegularExpression( '/ \/ 64\.0 MB$/', $row['memory'] );
		$this->assertGreaterThanOrEqual( 2, $row['items'] );

		$r     = $this->cli->stats( array( 'get_hits', 'limit_maxbytes' ) );
		$stats = array_column( $r['rows'], 'value', 'stat' );
		$this->assertSame( array( 'get_hits', 'limit_maxbytes' ), array_keys( $stats ) );
		$this->assertSame( (string) ( 64 * 1024 * 1024 ), $stats['limit_maxbytes'] );
	}

	public function test_flush_empties_the_object_cache_and_the_pages() {
		wp_cache_set( 'k', 'v', 'g' );
		$this->assertTrue( Larder_Page_Cache::store( 'http://example.com/', 200, array( 'Content-Type: text/html' ), '<p>home</p>' ) );
		$this->assertNotNull( Larder_Page_Cache::lookup( 'http://example.com/' ) );
		$r = $this->cli->flush();
		$this->assertTrue( $r['ok'], implode( "\n", $r['lines'] ) );
		$this->new_request();
		$this->assertFalse( wp_cache_get( 'k', 'g' ) );
		$this->assertNull( Larder_Page_Cache::lookup( 'http://example.com/' ) );
	}

	public function test_health_and_enable_see_a_dead_server() {
		$GLOBALS['memcached_servers'] = array( '127.0.0.1:' . CacheServer::free_port() );
		$this->new_request();
		$health = $this->manager->health();
		$this->assertSame( 'critical', $health['server']['status'] );
		$this->assertStringContainsString( 'unreachable', $health['server']['label'] );
		$r = $this->cli->enable();
		$this->assertFalse( $r['ok'] );
		$this->assertStringContainsString( 'does not answer', $r['lines'][0] );
		$this->assertFileDoesNotExist( $this->content . '/object-cache.php' );
		$this->assertFalse( $this->cli->status()['ok'] );
	}

	public function test_health_judges_the_hit_ratio_only_with_enough_lookups() {
		$own                          = CacheServer::start(); // Counters of its own.
		$GLOBALS['memcached_servers'] = array( $own->address() );
		$this->new_request();
		$health = $this->manager->health();
		$this->assertSame( 'good', $health['ratio']['status'] );
		$this->assertStringContainsString( 'Too early', $health['ratio']['label'] );
		$gets = (int) $own->stats()['get_hits'] + (int) $own->stats()['get_misses'];
		$own->raw( str_repeat( "get nothing-here\r\n", Larder_Manager::MIN_GETS_FOR_RATIO ) . "get last\r\n", "/(END\r\n){" . ( Larder_Manager::MIN_GETS_FOR_RATIO + 1 ) . '}$/' );
		$health = $this->manager->health();
		$this->assertSame( 'recommended', $health['ratio']['status'], $health['ratio']['description'] );
		$this->assertStringContainsString( 'poor', $health['ratio']['label'] );
		$this->assertGreaterThan( $gets, (int) $own->stats()['get_misses'] );
		$own->stop();
	}

	public function test_the_server_setting_is_read_without_the_drop_in_too() {
		$this->assertSame( array( array( 'a', 1, 0 ), array( 'b', 11211, 0 ), array( '::1', 5, 0 ), array( '/run/l.sock', 0, 0 ) ), Larder_Manager::parse_setting( 'a:1, b,[::1]:5,unix:///run/l.sock' ) );
		$this->assertSame( array( array( 'x', 5, 0 ), array( 'y', 6, 0 ) ), Larder_Manager::parse_setting( array( 'default' => array( 'x:5' ), 'session' => array( array( 'y', 6 ) ) ) ) );
	}

	public function test_wp_cli_commands_are_registered_only_under_wp_cli() {
		$this->assertFalse( class_exists( 'Larder_WP_CLI_Command', false ), 'not without WP-CLI' );
		// Under a stand-in for WP-CLI (not installable here): the command class and its registration.
		$code = <<<'PHP'
define( 'WP_CLI', true );
class WP_CLI { public static $commands = array(), $lines = array(), $halted = null;
	public static function add_command( $name, $class ) { self::$commands[ $name ] = $class; }
	public static function line( $l ) { self::$lines[] = $l; }
	public static function halt( $code ) { self::$halted = $code; } }
class WP_CLI_Command {}
require $argv[1] . '/includes/class-larder-manager.php';
require $argv[1] . '/includes/class-larder-cli.php';
$methods = array_values( array_diff( get_class_methods( 'Larder_WP_CLI_Command' ), array( 'cli', 'show' ) ) );
echo json_encode( array( 'commands' => WP_CLI::$commands, 'methods' => $methods ) );
PHP;
		$out  = shell_exec( escapeshellarg( PHP_BINARY ) . ' -r ' . escapeshellarg( $code ) . ' ' . escapeshellarg( dirname( __DIR__ ) . '/larder-object-cache' ) );
		$got  = json_decode( (string) $out, true );
		$this->assertSame( array( 'larder' => 'Larder_WP_CLI_Command' ), $got['commands'], (string) $out );
		$this->assertEqualsCanonicalizing( array( 'status', 'enable', 'disable', 'flush', 'stats' ), $got['methods'] );
	}
}
