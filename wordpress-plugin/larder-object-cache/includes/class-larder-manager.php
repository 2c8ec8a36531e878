<?php
/**
 * What the companion plugin does, without any user interface: read the
 * state of the drop-ins and servers, install and remove the drop-ins
 * safely, flush.  The settings page, Site Health and WP-CLI all call this
 * class; the tests drive it directly.
 *
 * Installing copies the bundled file next to its final name and renames it
 * (atomic on one file system), so a request never includes half a file.  A
 * drop-in that is not Larder's is never overwritten or removed unless
 * forced.  Before the object cache is installed or removed, the database
 * epoch is marked (see object-cache.php, Coherence): items written before
 * are never trusted again.
 */
class Larder_Manager {

	/** The drop-ins: kind => file name in wp-content, and the constant that holds its version. */
	const DROPINS = array(
		'object' => array( 'object-cache.php', 'LARDER_OBJECT_CACHE' ),
		'page'   => array( 'advanced-cache.php', 'LARDER_PAGE_CACHE' ),
	);

	/** Below this many gets, a hit ratio says nothing. */
	const MIN_GETS_FOR_RATIO = 1000;

	/** A hit ratio below this is poor. */
	const POOR_RATIO = 0.8;

	/** @var string wp-content. */
	protected $content_dir;

	/** @var string Where the bundled drop-ins are. */
	protected $source_dir;

	public function __construct( $content_dir = null, $source_dir = null ) {
		$this->content_dir = rtrim( $content_dir ?? WP_CONTENT_DIR, '/' );
		$this->source_dir  = rtrim( $source_dir ?? self::bundled_dir(), '/' );
	}

	/** The plugin's own copies (dropins/ in a packaged plugin, the folder above in the source tree). */
	public static function bundled_dir() {
		$packaged = dirname( __DIR__ ) . '/dropins';
		return is_dir( $packaged ) ? $packaged : dirname( __DIR__, 2 );
	}

	/**
	 * The version of a Larder drop-in file, '' for a file that is not
	 * Larder's, null when there is no file.
	 */
	public static function file_version( $path, $constant ) {
		if ( ! is_file( $path ) ) {
			return null;
		}
		$head = (string) file_get_contents( $path, false, null, 0, 8192 );
		if ( preg_match( "/define\\(\\s*'" . preg_quote( $constant, '/' ) . "',\\s*'([^']+)'\\s*\\)/", $head, $m ) ) {
			return $m[1];
		}
		return '';
	}

	/** The state of one drop-in: installed, ours, versions, outdated. */
	public function dropin( $kind ) {
		list( $file, $constant ) = self::DROPINS[ $kind ];
		$installed               = self::file_version( $this->content_dir . '/' . $file, $constant );
		$bundled                 = self::file_version( $this->source_dir . '/' . $file, $constant );
		return array(
			'kind'      => $kind,
			'file'      => $this->content_dir . '/' . $file,
			'installed' => null !== $installed,
			'ours'      => null !== $installed && '' !== $installed,
			'version'   => $installed,
			'bundled'   => $bundled,
			'outdated'  => null !== $installed && '' !== $installed && $bundled && version_compare( $installed, $bundled, '<' ),
			'loaded'    => 'object' === $kind ? function_exists( 'wp_cache_get_type' ) && 'Larder' === wp_cache_get_type() && defined( 'LARDER_OBJECT_CACHE_ACTIVE' ) : class_exists( 'Larder_Page_Cache', false ) && defined( 'WP_CACHE' ) && WP_CACHE,
			'wp_cache'  => defined( 'WP_CACHE' ) && WP_CACHE,
		);
	}

	/**
	 * Installs (or updates) a drop-in.  Refuses to replace another drop-in,
	 * or to install the object cache when no server answers, unless $force.
	 * Returns [ bool ok, string message ].
	 */
	public function enable( $kind, $force = false ) {
		$state  = $this->dropin( $kind );
		$source = $this->source_dir . '/' . self::DROPINS[ $kind ][0];
		if ( ! $state['bundled'] ) {
			return array( false, "the bundled $source is missing" );
		}
		if ( $state['installed'] && ! $state['ours'] && ! $force ) {
			return array( false, basename( $state['file'] ) . ' belongs to another plugin; remove it first, or use --force' );
		}
		if ( 'object' === $kind && ! $force ) {
			if ( ! class_exists( 'Memcached' ) ) {
				return array( false, 'the PHP memcached extension is not loaded (apt install php-memcached)' );
			}
			foreach ( $this->servers() as $server ) {
				if ( ! $server['connected'] ) {
					return array( false, "server {$server['address']} does not answer: {$server['error']}; start it, or use --force" );
				}
			}
		}
		if ( ! is_writable( $this->content_dir ) ) {
			return array( false, "{$this->content_dir} is not writable" );
		}
		if ( 'object' === $kind ) {
			self::mark_gap(); // Whatever the server holds from earlier is not trusted.
		}
		$tmp = $this->content_dir . '/.' . basename( $state['file'] ) . '.larder-' . bin2hex( random_bytes( 4 ) );
		if ( ! @copy( $source, $tmp ) || sha1_file( $tmp ) !== sha1_file( $source ) || ! @rename( $tmp, $state['file'] ) ) {
			@unlink( $tmp );
			return array( false, 'could not write ' . $state['file'] );
		}
		if ( function_exists( 'opcache_invalidate' ) ) {
			@opcache_invalidate( $state['file'], true );
		}
		$note = ( 'page' === $kind && ! $state['wp_cache'] ) ? "; add define( 'WP_CACHE', true ); to wp-config.php to turn it on" : '';
		return array( true, basename( $state['file'] ) . ' ' . ( $state['ours'] ? 'updated to ' : 'installed, version ' ) . $state['bundled'] . $note );
	}

	/** Removes a drop-in if it is Larder's.  Returns [ bool ok, string message ]. */
	public function disable( $kind ) {
		$state = $this->dropin( $kind );
		if ( ! $state['installed'] ) {
			return array( true, basename( $state['file'] ) . ' is not installed' );
		}
		if ( ! $state['ours'] ) {
			return array( false, basename( $state['file'] ) . ' belongs to another plugin; not removed' );
		}
		if ( 'object' === $kind ) {
			self::mark_gap(); // Even if the guard plugin is deleted later, the old items are not served again.
		} else {
			self::page_cache_purge_all();
		}
		if ( ! @unlink( $state['file'] ) ) {
			return array( false, 'could not remove ' . $state['file'] );
		}
		if ( function_exists( 'opcache_invalidate' ) ) {
			@opcache_invalidate( $state['file'], true );
		}
		return array( true, basename( $state['file'] ) . ' removed' );
	}

	/** Empties this site's object cache (a new epoch) and every stored page. Returns [ ok, message ]. */
	public function flush() {
		$object = function_exists( 'wp_cache_flush' ) ? wp_cache_flush() : false;
		$pages  = self::page_cache_purge_all();
		return array( $object && $pages, sprintf( 'object cache %s, page cache %s', $object ? 'flushed' : 'not flushed', $pages ? 'purged' : 'not purged' ) );
	}

	/** Marks the database epoch (see object-cache.php) through the drop-in when loaded, else directly. */
	public static function mark_gap() {
		if ( class_exists( 'WP_Object_Cache' ) && method_exists( 'WP_Object_Cache', 'mark_gap' ) ) {
			return WP_Object_Cache::mark_gap();
		}
		global $wpdb;
		if ( ! isset( $wpdb ) ) {
			return null;
		}
		$table = $wpdb->base_prefix . 'options';
		$old   = $wpdb->get_var( "SELECT option_value FROM $table WHERE option_name = 'larder_cache_epoch'" );
		if ( is_string( $old ) && 0 !== strpos( $old, 'gap:' ) ) {
			$wpdb->query( $wpdb->prepare( "UPDATE $table SET option_value = %s WHERE option_name = 'larder_cache_epoch' AND option_value = %s", 'gap:' . bin2hex( random_bytes( 6 ) ), $old ) );
		}
		return $wpdb->get_var( "SELECT option_value FROM $table WHERE option_name = 'larder_cache_epoch'" );
	}

	/** Purges every stored page, loading the page cache's code if WordPress did not. */
	public static function page_cache_purge_all() {
		if ( ! class_exists( 'Larder_Page_Cache', false ) ) {
			$file = self::bundled_dir() . '/advanced-cache.php';
			if ( ! is_file( $file ) ) {
				return false;
			}
			defined( 'LARDER_PAGE_CACHE_LIBRARY_ONLY' ) || define( 'LARDER_PAGE_CACHE_LIBRARY_ONLY', true );
			require_once $file;
		}
		return Larder_Page_Cache::purge_all();
	}

	/*
	 * ---- Servers ------------------------------------------------------------
	 */

	/** The configured object-cache servers, as [ address, host, port ] (from the running drop-in when loaded). */
	public function server_list() {
		global $wp_object_cache;
		if ( is_object( $wp_object_cache ) && method_exists( $wp_object_cache, 'get_config' ) ) {
			$buckets = $wp_object_cache->get_config()['servers'];
		} elseif ( class_exists( 'WP_Object_Cache' ) && method_exists( 'WP_Object_Cache', 'parse_servers' ) ) {
			$buckets = WP_Object_Cache::parse_servers( defined( 'LARDER_SERVERS' ) ? LARDER_SERVERS : ( $GLOBALS['memcached_servers'] ?? '127.0.0.1:11211' ) );
		} else {
			$buckets = array( 'default' => self::parse_setting( defined( 'LARDER_SERVERS' ) ? LARDER_SERVERS : ( $GLOBALS['memcached_servers'] ?? '127.0.0.1:11211' ) ) );
		}
		$list = array();
		foreach ( $buckets as $bucket => $servers ) {
			foreach ( $servers as $s ) {
				$address          = $s[1] ? ( false !== strpos( $s[0], ':' ) ? "[{$s[0]}]:{$s[1]}" : "{$s[0]}:{$s[1]}" ) : $s[0];
				$list[ $address ] = array(
					'address' => $address,
					'host'    => $s[0],
					'port'    => (int) $s[1],
					'bucket'  => $bucket,
				);
			}
		}
		return array_values( $list );
	}

	/**
	 * The server setting read without the drop-in (WordPress's own
	 * WP_Object_Cache is loaded then): 'host:port' strings, comma lists,
	 * [host, port] pairs, unix sockets, per-group lists (flattened).
	 */
	public static function parse_setting( $setting ) {
		$out  = array();
		$walk = function ( $v ) use ( &$walk, &$out ) {
			if ( is_array( $v ) && isset( $v[0], $v[1] ) && is_string( $v[0] ) && is_numeric( $v[1] ) ) {
				$out[] = array( $v[0], (int) $v[1], 0 );
			} elseif ( is_array( $v ) ) {
				array_map( $walk, $v );
			} else {
				foreach ( array_filter( array_map( 'trim', explode( ',', (string) $v ) ), 'strlen' ) as $one ) {
					if ( 0 === strpos( $one, 'unix://' ) || '/' === $one[0] ) {
						$out[] = array( preg_replace( '#^unix://#', '', $one ), 0, 0 );
					} elseif ( preg_match( '/^\[([^\]]+)\](?::(\d+))?/', $one, $m ) ) {
						$out[] = array( $m[1], (int) ( $m[2] ?? 11211 ), 0 );
					} else {
						$parts = explode( ':', $one );
						$out[] = array( $parts[0], (int) ( $parts[1] ?? 11211 ), 0 );
					}
				}
			}
		};
		$walk( $setting );
		return $out ?: array( array( '127.0.0.1', 11211, 0 ) );
	}

	/**
	 * Each server's state from its `stats`: connected, version, hit ratio,
	 * memory used and limit, evictions, items.
	 */
	public function servers() {
		$out = array();
		foreach ( $this->server_list() as $s ) {
			$error = '';
			$stats = self::server_stats( $s['host'], $s['port'], $error );
			$gets  = $stats ? (int) $stats['get_hits'] + (int) $stats['get_misses'] : 0;
			$out[] = $s + array(
				'connected' => null !== $stats,
				'error'     => $error,
				'version'   => $stats['version'] ?? '',
				'hit_ratio' => $gets ? (int) $stats['get_hits'] / $gets : null,
				'gets'      => $gets,
				'bytes'     => (int) ( $stats['bytes'] ?? 0 ),
				'limit'     => (int) ( $stats['limit_maxbytes'] ?? 0 ),
				'evictions' => (int) ( $stats['evictions'] ?? 0 ),
				'items'     => (int) ( $stats['curr_items'] ?? 0 ),
				'uptime'    => (int) ( $stats['uptime'] ?? 0 ),
				'stats'     => $stats ?? array(),
			);
		}
		return $out;
	}

	/** `stats` of one server over a plain socket, or null with $error set. */
	public static function server_stats( $host, $port, &$error = null, $timeout = 0.5 ) {
		$target = $port ? 'tcp://' . ( false !== strpos( $host, ':' ) ? "[$host]" : $host ) . ":$port" : "unix://$host";
		$socket = @stream_socket_client( $target, $errno, $errstr, $timeout );
		if ( ! $socket ) {
			$error = $errstr ?: 'connection refused';
			return null;
		}
		stream_set_timeout( $socket, 0, (int) ( $timeout * 1e6 ) );
		fwrite( $socket, "stats\r\n" );
		$reply = '';
		while ( ! preg_match( "/(^|\r\n)(END|ERROR[^\r]*)\r\n$/", $reply ) ) {
			$chunk = fread( $socket, 8192 );
			if ( false === $chunk || '' === $chunk ) {
				if ( stream_get_meta_data( $socket )['timed_out'] || feof( $socket ) ) {
					break;
				}
			}
			$reply .= $chunk;
		}
		fclose( $socket );
		if ( ! preg_match_all( '/^STAT (\S+) (.*?)\r$/m', $reply, $m ) ) {
			$error = 'no answer to stats';
			return null;
		}
		return array_combine( $m[1], $m[2] );
	}

	/*
	 * ---- Site Health ----------------------------------------------------------
	 */

	/**
	 * The three Site Health results (server, drop-in, hit ratio), in the form
	 * WordPress's Site Health screen takes: label, status (good, recommended,
	 * critical), description, test.
	 */
	public function health() {
		$badge   = array(
			'label' => 'Performance',
			'color' => 'blue',
		);
		$result  = function ( $test, $status, $label, $description ) use ( $badge ) {
			return array(
				'test'        => $test,
				'status'      => $status,
				'label'       => $label,
				'badge'       => $badge,
				'description' => '<p>' . $description . '</p>',
				'actions'     => '',
			);
		};
		$servers = $this->servers();
		$down    = array_filter( $servers, fn( $s ) => ! $s['connected'] );
		$dropin  = $this->dropin( 'object' );
		$out     = array();

		$out['server'] = $down
			? $result( 'larder_server', 'critical', 'The Larder cache server is unreachable', 'No answer from ' . implode( ', ', array_column( $down, 'address' ) ) . '. WordPress works without it, but every page runs every database query.' )
			: $result( 'larder_server', 'good', 'The Larder cache server answers', implode( ', ', array_map( fn( $s ) => $s['address'] . ' (' . $s['version'] . ')', $servers ) ) . ' answer.' );

		if ( ! $dropin['installed'] ) {
			$out['dropin'] = $result( 'larder_dropin', 'recommended', 'The Larder object cache is not enabled', 'Enable it under Settings, Larder, or with <code>wp larder enable</code>.' );
		} elseif ( ! $dropin['ours'] ) {
			$out['dropin'] = $result( 'larder_dropin', 'recommended', 'Another object-cache drop-in is installed', 'wp-content/object-cache.php is not Larder\'s.' );
		} elseif ( $dropin['outdated'] ) {
			$out['dropin'] = $result( 'larder_dropin', 'recommended', 'The Larder object-cache drop-in is outdated', "Version {$dropin['version']} is installed, {$dropin['bundled']} comes with the plugin. Update it under Settings, Larder, or with <code>wp larder enable</code>." );
		} else {
			$out['dropin'] = $result( 'larder_dropin', 'good', 'The Larder object-cache drop-in is up to date', "Version {$dropin['version']}." );
		}

		$gets = array_sum( array_column( $servers, 'gets' ) );
		$hits = 0;
		foreach ( $servers as $s ) {
			$hits += (int) ( $s['stats']['get_hits'] ?? 0 );
		}
		$ratio = $gets ? $hits / $gets : 0;
		if ( $gets < self::MIN_GETS_FOR_RATIO ) {
			$out['ratio'] = $result( 'larder_hit_ratio', 'good', 'Too early to judge the cache hit ratio', "$gets lookups so far." );
		} elseif ( $ratio < self::POOR_RATIO ) {
			$out['ratio'] = $result( 'larder_hit_ratio', 'recommended', 'The cache hit ratio is poor', sprintf( '%.1f%% of %d lookups were hits. Check the evictions (give the server more memory, -m) and that pages are not flushing the cache.', 100 * $ratio, $gets ) );
		} else {
			$out['ratio'] = $result( 'larder_hit_ratio', 'good', 'The cache hit ratio is good', sprintf( '%.1f%% of %d lookups were hits.', 100 * $ratio, $gets ) );
		}
		return $out;
	}
}
